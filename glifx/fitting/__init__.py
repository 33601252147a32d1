"""GLIF fitting: preprocessing estimators, optimisation, explained variance, the fit_cell pipeline."""
