"""What people did: reading-study data as cohorts on the corpus' cell index (Reading Brain, fMRI, simulated readers)."""
