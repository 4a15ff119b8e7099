from .base import Study, StudyResult, run_study, seed_list
from .registry import get_study, study_names

__all__ = ["Study", "StudyResult", "get_study", "run_study", "seed_list", "study_names"]
