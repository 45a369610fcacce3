"""`python -m facetrail`: the command line."""

from facetrail.interfaces.cli import main

main()
