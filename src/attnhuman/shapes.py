"""Array shapes as type aliases: the axes an array has, readable in signatures (``numpy.ndarray`` underneath).

``cells`` are the analysed word pairs of the corpus (docs/method.md, "Corpus and cells"), ``subjects`` a cohort's readers.
"""
from typing import Annotated

import numpy as np

Cells = Annotated[np.ndarray, "(cells,)"]                          # one value per analysed cell
CellsSubjects = Annotated[np.ndarray, "(cells, subjects)"]         # a cohort's targets, one column per subject
LayerHeadCells = Annotated[np.ndarray, "(layers, heads, cells)"]   # a run's word-level attention
LayersSubjects = Annotated[np.ndarray, "(layers, subjects)"]       # a score per layer and subject
Subjects = Annotated[np.ndarray, "(subjects,)"]                    # one value per subject
