from bvp.cli import main

main()
