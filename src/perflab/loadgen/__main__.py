"""`python -m perflab.loadgen` runs `perflab load` on its own."""

from perflab.loadgen.command import main

main()
