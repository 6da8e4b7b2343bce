"""Analyses of finished studies: hyperparameter importance (fANOVA) and its figures."""
