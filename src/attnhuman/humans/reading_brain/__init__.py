"""The Reading Brain release (Li et al.): its files, layout, saccade and fMRI cohorts, as a source of human data."""
