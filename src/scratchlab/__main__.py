"""`python -m scratchlab` is the `scratchlab` command (also what `torchrun -m scratchlab` runs)."""

from scratchlab.cli import main

if __name__ == "__main__":
    main()
