"""Deterministic demo data: program classes with unit outcomes, learning-plan classes with modules.

Ids (the samples in samples/ rely on them):
- program classes 31001-31004; 31001 has 130 students so GET /course/enrolments must be paged;
- learning-plan classes 32001-32003; contacts from 700001; unit ids from 41001, one per unit code;
- program enrolments from 800001, learning-plan enrolments (enrolId) from 900001,
  unit enrolment records from 2100001, module enrolments from 600001.
"""

import random
import sqlite3
from dataclasses import dataclass
from datetime import date, timedelta

RANDOM_SEED = 2026

UNITS: dict[str, str] = {
    "BSBCRT411": "Apply critical thinking to work practices",
    "BSBOPS404": "Implement customer service strategies",
    "BSBWHS411": "Implement and monitor WHS policies, procedures and programs",
    "BSBXCM401": "Apply communication strategies in the workplace",
    "BSBTWK401": "Build and maintain business relationships",
    "BSBPEF402": "Develop personal work priorities",
    "BSBSUS411": "Implement and monitor environmentally sustainable work practices",
    "BSBOPS403": "Apply business risk management processes",
    "BSBXTW401": "Lead and facilitate a team",
    "BSBTEC404": "Use digital technologies to collaborate in a work environment",
    "CHCCCS031": "Provide individualised support",
    "CHCCCS038": "Facilitate the empowerment of people receiving support",
    "CHCCOM005": "Communicate and work in health or community services",
    "CHCDIV001": "Work with diverse people",
    "CHCLEG001": "Work legally and ethically",
    "HLTWHS002": "Follow safe work practices for direct client care",
    "HLTINF006": "Apply basic principles and practices of infection prevention and control",
    "CHCAGE011": "Provide support to people living with dementia",
    "SITHCCC027": "Prepare dishes using basic methods of cookery",
    "SITXFSA005": "Use hygienic practices for food safety",
    "SITXFSA006": "Participate in safe food handling practices",
    "SITHKOP009": "Clean kitchen premises and equipment",
    "SITXWHS005": "Participate in safe work practices",
    "SITHCCC028": "Prepare appetisers and salads",
    "SITXINV006": "Receive, store and maintain stock",
    "SITHCCC029": "Prepare stocks, sauces and soups",
}
FIRST_UNIT_ID = 41001

BUSINESS_UNITS = [code for code in UNITS if code.startswith("BSB")]
SUPPORT_UNITS = [code for code in UNITS if code.startswith(("CHC", "HLT"))]
COOKERY_UNITS = [code for code in UNITS if code.startswith("SIT")]


@dataclass(frozen=True)
class ProgramClass:
    """A class (instance) of an accredited program, and how many students it has."""

    class_id: int
    program_id: int
    code: str
    name: str
    starts: date
    students: int
    units: list[str]


@dataclass(frozen=True)
class LearningPlanClass:
    """A class whose students follow a learning plan made of modules."""

    class_id: int
    descriptor: str
    plan_name: str
    starts: date
    students: int
    modules: list[str]


PROGRAM_CLASSES = [
    ProgramClass(
        31001,
        5101,
        "BSB40120",
        "BSB40120 Certificate IV in Business - Term 1 2026 (Brisbane)",
        date(2026, 2, 2),
        130,
        BUSINESS_UNITS,
    ),
    ProgramClass(
        31002,
        5102,
        "CHC33021",
        "CHC33021 Certificate III in Individual Support - Feb 2026",
        date(2026, 2, 9),
        18,
        SUPPORT_UNITS,
    ),
    ProgramClass(
        31003,
        5103,
        "SIT30821",
        "SIT30821 Certificate III in Commercial Cookery - 2026",
        date(2026, 1, 27),
        15,
        COOKERY_UNITS,
    ),
    ProgramClass(
        31004,
        5101,
        "BSB40120",
        "BSB40120 Certificate IV in Business - Term 3 2026 (Online)",
        date(2026, 7, 13),
        16,
        BUSINESS_UNITS,
    ),
]

LEARNING_PLAN_CLASSES = [
    LearningPlanClass(
        32001,
        "Workplace Skills - Cohort A 2026",
        "Workplace Skills Learning Plan",
        date(2026, 3, 2),
        12,
        [
            "Module 1 - Workplace Safety",
            "Module 2 - Customer Service",
            "Module 3 - Teamwork",
            "Module 4 - Digital Tools",
            "Module 5 - Problem Solving",
            "Module 6 - Final Assessment",
        ],
    ),
    LearningPlanClass(
        32002,
        "Customer Service Excellence - May 2026",
        "Customer Service Learning Plan",
        date(2026, 5, 4),
        14,
        [
            "Module 1 - Introduction to Service",
            "Module 2 - Customer Service",
            "Module 3 - Handling Complaints",
            "Module 4 - Service Recovery",
            "Module 5 - Reflection and Review",
        ],
    ),
    LearningPlanClass(
        32003,
        "Leadership Essentials - Cohort 1",
        "Leadership Essentials Learning Plan",
        date(2026, 4, 13),
        10,
        [
            "Module 1 - Leading Yourself",
            "Module 2 - Leading Others",
            "Module 3 - Giving Feedback",
            "Module 4 - Managing Change",
            "Module 5 - Capstone Project",
        ],
    ),
]

# Students who are in a second program class too: (class they join, class they come from, how many).
SHARED_STUDENTS = [(31002, 31001, 3), (31004, 31003, 2)]

# Linked workshops shown nested inside the unit activity (like the reference sample's "ASSERT" workshop).
WORKSHOPS = {
    "BSBWHS411": (55001, 211, "WHSIND", "WHS Induction Workshop", date(2026, 2, 20)),
    "SITXFSA005": (55002, 212, "FOODSAFE", "Food Safety Practical Session", date(2026, 2, 12)),
}

# fmt: off
GIVEN_NAMES = [
    "Olivia", "Jack", "Charlotte", "William", "Amelia", "Noah", "Isla", "Oliver", "Mia", "Thomas",
    "Ava", "James", "Grace", "Lachlan", "Chloe", "Liam", "Zoe", "Cooper", "Ruby", "Harrison",
    "Sienna", "Riley", "Matilda", "Ethan", "Ella", "Mason", "Harper", "Lucas", "Sophie", "Henry",
    "Emily", "Samuel", "Ivy", "Archie", "Georgia", "Leo", "Hannah", "Xavier", "Lily", "Angus",
    "Priya", "Wei", "Mohammed", "Aisha", "Nguyen", "Mei", "Arjun", "Fatima", "Luca", "Sofia",
    "Kirra", "Jarrah", "Tahlia", "Bodhi", "Indi", "Marcus", "Bridget", "Declan", "Tegan", "Callum",
]
SURNAMES = [
    "Smith", "Jones", "Williams", "Brown", "Wilson", "Taylor", "Johnson", "White", "Martin", "Anderson",
    "Thompson", "Nguyen", "Thomas", "Walker", "Harris", "Lee", "Ryan", "Robinson", "Kelly", "King",
    "Davis", "Wright", "Evans", "Roberts", "Green", "Hall", "Wood", "Jackson", "Clarke", "Patel",
    "Khan", "Singh", "Tran", "Chen", "Wang", "O'Brien", "Murphy", "McDonald", "Campbell", "Stewart",
    "Mitchell", "Young", "Cooper", "Morris", "Moore", "Hughes", "Edwards", "Baker", "Scott", "Collins",
]
# fmt: on

# Current unit outcomes and their weights: none yet, C, CA (continuing), CNA, RPL-G, CT, NYS.
OUTCOME_WEIGHTS: dict[str | None, int] = {None: 35, "20": 30, "70": 15, "30": 10, "51": 4, "60": 3, "85": 3}


def stamp(day: date, time: str = "00:00") -> str:
    """A date as the 'YYYY-MM-DD hh:mm' text the enrolments table keeps."""
    return f"{day.isoformat()} {time}"


class DemoData:
    """Builds the rows in id order from one seeded random generator, so every seed is identical."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        self.random = random.Random(RANDOM_SEED)
        self.next_contact_id = 700001
        self.next_program_enrol_id = 800001
        self.next_plan_enrol_id = 900001
        self.next_unit_record_id = 2100001
        self.next_module_enrolment_id = 600001
        self.next_learner_id = 417001
        self.used_names: set[tuple[str, str]] = set()
        self.unit_ids = {code: FIRST_UNIT_ID + index for index, code in enumerate(UNITS)}

    def insert_all(self) -> None:
        self.insert_catalogue()
        students_by_class: dict[int, list[int]] = {}
        for program_class in PROGRAM_CLASSES:
            students = self.pick_students(program_class.class_id, program_class.students, students_by_class)
            students_by_class[program_class.class_id] = students
            self.insert_program_class(program_class, students)
        for plan_class in LEARNING_PLAN_CLASSES:
            students = [self.new_contact() for _ in range(plan_class.students)]
            self.insert_learning_plan_class(plan_class, students)

    def insert_catalogue(self) -> None:
        self.connection.executemany(
            "INSERT INTO units (unit_id, code, name) VALUES (?, ?, ?)",
            [(self.unit_ids[code], code, name) for code, name in UNITS.items()],
        )
        self.connection.executemany(
            "INSERT INTO workshops (instance_id, type_id, code, name, held_on) VALUES (?, ?, ?, ?, ?)",
            [
                (instance_id, type_id, code, name, held_on.isoformat())
                for instance_id, type_id, code, name, held_on in WORKSHOPS.values()
            ],
        )

    def pick_students(self, class_id: int, count: int, students_by_class: dict[int, list[int]]) -> list[int]:
        """New contacts for the class, plus a few taken from an earlier class (students in two classes)."""
        shared: list[int] = []
        for joining_class, from_class, how_many in SHARED_STUDENTS:
            if joining_class == class_id:
                shared += self.random.sample(students_by_class[from_class], how_many)
        return sorted(shared) + [self.new_contact() for _ in range(count - len(shared))]

    def new_contact(self) -> int:
        given_name, surname = self.unused_name()
        contact_id = self.next_contact_id
        self.next_contact_id += 1
        email = f"{given_name}.{surname}".lower().replace("'", "") + "@example.com.au"
        mobile = None
        if self.random.random() < 0.8:
            mobile = f"04{self.random.randint(10, 99)} {self.random.randint(100, 999)} {self.random.randint(100, 999)}"
        self.connection.execute(
            "INSERT INTO contacts (contact_id, given_name, surname, email, mobile) VALUES (?, ?, ?, ?, ?)",
            (contact_id, given_name, surname, email, mobile),
        )
        return contact_id

    def unused_name(self) -> tuple[str, str]:
        """A given name and surname pair no other demo contact has, so students are easy to tell apart."""
        while True:
            name = (self.random.choice(GIVEN_NAMES), self.random.choice(SURNAMES))
            if name not in self.used_names:
                self.used_names.add(name)
                return name

    def insert_program_class(self, program_class: ProgramClass, students: list[int]) -> None:
        self.connection.execute(
            "INSERT INTO classes (class_id, kind, program_id, code, name) VALUES (?, 'program', ?, ?, ?)",
            (program_class.class_id, program_class.program_id, program_class.code, program_class.name),
        )
        for contact_id in students:
            enrol_id = self.insert_enrolment(
                contact_id, program_class.class_id, program_class.starts, enrol_id=self.next_program_enrol_id
            )
            self.next_program_enrol_id += 1
            unit_count = self.random.randint(5, 8)
            chosen = set(self.random.sample(program_class.units, unit_count))
            codes = [code for code in program_class.units if code in chosen]
            for position, code in enumerate(codes):
                self.insert_unit_enrolment(enrol_id, code, program_class.starts + timedelta(weeks=3 * position))

    def insert_enrolment(self, contact_id: int, class_id: int, starts: date, *, enrol_id: int) -> int:
        enrolled_on = starts - timedelta(days=self.random.randint(7, 40))
        self.connection.execute(
            "INSERT INTO enrolments (enrol_id, contact_id, class_id, learner_id, enrolled_at, start_date,"
            " finish_date, amount_paid, last_updated_utc) VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?)",
            (
                enrol_id,
                contact_id,
                class_id,
                self.next_learner_id,
                stamp(enrolled_on, f"{self.random.randint(8, 17):02d}:{self.random.choice(['00', '15', '30', '45'])}"),
                starts.isoformat(),
                self.random.choice([0, 0, 250, 775, 1450]),
                stamp(enrolled_on, "09:00"),
            ),
        )
        self.next_learner_id += 1
        return enrol_id

    def insert_unit_enrolment(self, enrol_id: int, code: str, planned_start: date) -> None:
        outcome = self.random.choices(list(OUTCOME_WEIGHTS), weights=list(OUTCOME_WEIGHTS.values()))[0]
        start_date, end_date = self.unit_dates(outcome, planned_start)
        workshop = WORKSHOPS.get(code)
        workshop_id = workshop[0] if workshop and start_date else None
        self.connection.execute(
            "INSERT INTO unit_enrolments (record_id, enrol_id, unit_id, enrolled_at, outcome_code, start_date,"
            " end_date, workshop_instance_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self.next_unit_record_id,
                enrol_id,
                self.unit_ids[code],
                stamp(planned_start - timedelta(days=14)),
                outcome,
                start_date,
                end_date,
                workshop_id,
            ),
        )
        self.next_unit_record_id += 1

    def unit_dates(self, outcome: str | None, planned_start: date) -> tuple[str | None, str | None]:
        """Finished outcomes have both dates, continuing ones a start only, unset ones sometimes a start."""
        start = planned_start.isoformat()
        end = (planned_start + timedelta(days=self.random.choice([21, 28, 35, 42]))).isoformat()
        if outcome in ("20", "30", "51", "60"):
            return start, end
        if outcome == "70" or (outcome is None and self.random.random() < 0.5):
            return start, None
        return None, None

    def insert_learning_plan_class(self, plan_class: LearningPlanClass, students: list[int]) -> None:
        self.connection.execute(
            "INSERT INTO classes (class_id, kind, name, learning_plan_name) VALUES (?, 'learning_plan', ?, ?)",
            (plan_class.class_id, plan_class.descriptor, plan_class.plan_name),
        )
        for contact_id in students:
            enrol_id = self.insert_enrolment(
                contact_id, plan_class.class_id, plan_class.starts, enrol_id=self.next_plan_enrol_id
            )
            self.next_plan_enrol_id += 1
            module_count = self.random.randint(4, min(6, len(plan_class.modules)))
            for position, module_name in enumerate(plan_class.modules[:module_count]):
                self.insert_module_enrolment(enrol_id, module_name, plan_class.starts + timedelta(weeks=2 * position))

    def insert_module_enrolment(self, enrol_id: int, module_name: str, opens: date) -> None:
        status_id = self.random.choices([1, 2, 3], weights=[50, 35, 15])[0]
        access_override = self.random.choice([None, None, 1, 0])
        start_date, end_date = (None, None)
        if self.random.random() < 0.5:
            start_date, end_date = opens.isoformat(), (opens + timedelta(weeks=2)).isoformat()
        commenced = opens.isoformat() if status_id >= 2 else None
        completed = (opens + timedelta(days=self.random.randint(5, 14))).isoformat() if status_id == 3 else None
        self.connection.execute(
            "INSERT INTO module_enrolments (module_enrolment_id, enrol_id, module_name, status_id, access_override,"
            " start_date, end_date, commencement_date, completion_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self.next_module_enrolment_id,
                enrol_id,
                module_name,
                status_id,
                access_override,
                start_date,
                end_date,
                commenced,
                completed,
            ),
        )
        self.next_module_enrolment_id += 1


def insert_demo_data(connection: sqlite3.Connection) -> None:
    """Fill an empty schema with the demo data; the same rows every time."""
    DemoData(connection).insert_all()


# --- a big tenant for bench/: many full classes, added beside the demo data ---

BENCH_FIRST_CLASS_ID = 35001
BENCH_FIRST_CONTACT_ID = 1_000_001
BENCH_FIRST_ENROL_ID = 5_000_001
BENCH_FIRST_UNIT_RECORD_ID = 10_000_001
BENCH_FIRST_LEARNER_ID = 3_000_001
BENCH_PROGRAM = (5101, "BSB40120")
BENCH_STARTS = date(2026, 2, 2)


def insert_bench_data(
    connection: sqlite3.Connection, *, classes: int = 50, students: int = 100, units: int = 4
) -> None:
    """Add ``classes`` program classes of ``students`` new students, each in ``units`` business units.

    Ids start far above the demo data's (classes from 35001, contacts from 1000001), so both live in one
    database; the same sizes give the same rows every time. Needs the demo catalogue of units.
    """
    if not 1 <= units <= len(BUSINESS_UNITS):
        raise ValueError(f"units must be between 1 and {len(BUSINESS_UNITS)}, not {units}")
    generator = random.Random(RANDOM_SEED)
    unit_ids = {code: FIRST_UNIT_ID + index for index, code in enumerate(UNITS)}
    program_id, program_code = BENCH_PROGRAM
    contacts: list[tuple[object, ...]] = []
    enrolments: list[tuple[object, ...]] = []
    unit_enrolments: list[tuple[object, ...]] = []
    for class_number in range(classes):
        class_id = BENCH_FIRST_CLASS_ID + class_number
        connection.execute(
            "INSERT INTO classes (class_id, kind, program_id, code, name) VALUES (?, 'program', ?, ?, ?)",
            (class_id, program_id, program_code, f"{program_code} Certificate IV in Business - bench class {class_id}"),
        )
        for student_number in range(students):
            number = class_number * students + student_number
            contact_id, enrol_id = BENCH_FIRST_CONTACT_ID + number, BENCH_FIRST_ENROL_ID + number
            given_name = GIVEN_NAMES[number % len(GIVEN_NAMES)]
            surname = SURNAMES[number // len(GIVEN_NAMES) % len(SURNAMES)]
            contacts.append((contact_id, given_name, surname, f"bench{contact_id}@example.com.au", None))
            enrolled = BENCH_STARTS - timedelta(days=14)
            learner_id = BENCH_FIRST_LEARNER_ID + number
            starts = BENCH_STARTS.isoformat()
            enrolments.append((enrol_id, contact_id, class_id, learner_id, stamp(enrolled), starts, 0, stamp(enrolled)))
            for position, code in enumerate(sorted(generator.sample(BUSINESS_UNITS, units))):
                outcome = generator.choices(list(OUTCOME_WEIGHTS), weights=list(OUTCOME_WEIGHTS.values()))[0]
                planned = BENCH_STARTS + timedelta(weeks=3 * position)
                start_date, end_date = (planned.isoformat(), None) if outcome else (None, None)
                record_id = BENCH_FIRST_UNIT_RECORD_ID + len(unit_enrolments)
                enrolled_at = stamp(planned - timedelta(days=14))
                unit_id = unit_ids[code]
                unit_enrolments.append((record_id, enrol_id, unit_id, enrolled_at, outcome, start_date, end_date))
    connection.executemany("INSERT INTO contacts VALUES (?, ?, ?, ?, ?)", contacts)
    connection.executemany(
        "INSERT INTO enrolments (enrol_id, contact_id, class_id, learner_id, enrolled_at, start_date, finish_date,"
        " amount_paid, last_updated_utc) VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?)",
        enrolments,
    )
    connection.executemany(
        "INSERT INTO unit_enrolments (record_id, enrol_id, unit_id, enrolled_at, outcome_code, start_date, end_date)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        unit_enrolments,
    )
