"""Packaged studies: reproducible experiments with their analysis and report section.

    scratchlab study list
    from scratchlab.studies import inductive_bias; result = inductive_bias.run(quick=True)
"""

from scratchlab.studies.base import StudyResult
from scratchlab.studies.registry import get_study, study_names

__all__ = ["StudyResult", "get_study", "study_names"]
