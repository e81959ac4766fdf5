"""Input files to validated arrays: the dataset layout, tabular reading (fast and checked paths),
prediction and truth files, study means, and the alignment of predictions with the truth."""
