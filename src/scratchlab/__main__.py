"""`python -m scratchlab` is the `scratchlab` command (also what `torchrun -m scratchlab` runs)."""

from scratchlab.cli import run_command

if __name__ == "__main__":
    run_command()
