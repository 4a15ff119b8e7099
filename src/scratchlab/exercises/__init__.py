"""Exercise mode: student skeletons cut from the library's own source, graded by its own checks.

    scratchlab exercise new DIR [--parts a,b,...]    a workspace of stubbed bodies and READMEs
    scratchlab check DIR [--part P] [--json]         grade it, part by part, in subprocesses
    scratchlab check --reference                     grade the library's own bodies

The manifest (`scratchlab.exercises.manifest.PARTS`) names each part's bodies by qualified name.
Nothing here is imported by the rest of the library except the command line.
"""
