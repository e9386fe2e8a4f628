"""Active learning by query by committee: explore with a NEP committee, pick uncertain frames, label, retrain."""

from interforge.active.loop import ActiveLearner, LoopResult
from interforge.active.manifest import Manifest
from interforge.active.schedule import ExploreTask, exploration_tasks
from interforge.active.select import Candidates, Selection, collect_candidates, select_for_labelling

__all__ = ["ActiveLearner", "Candidates", "ExploreTask", "LoopResult", "Manifest", "Selection",
           "collect_candidates", "exploration_tasks", "select_for_labelling"]
