from edgecgl.cli import main

main()
