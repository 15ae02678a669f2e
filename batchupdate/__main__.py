from batchupdate.cli import main

main()
