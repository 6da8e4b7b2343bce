"""Each table's caption, one home for the stage that prints and logs it and for the report."""

TABLE4 = ("Table 4 / A.8 analogue: fANOVA importance of each hyperparameter (fraction of the variance of "
          "validation accuracy; std over the forest's trees)")
TABLE5 = ("Table 5 analogue: the most important pairs of hyperparameters (a pair's importance is its "
          "interaction alone)")
TABLE6 = ("Table 6 analogue: best validation accuracy per method (val) and the test accuracy of that "
          "configuration (test); max difference between the methods' best val")
TABLE7_TITLE = "Table 7 analogue"  # also the heading of Study III when it did not run
TABLE7 = (f"{TABLE7_TITLE}: the best configuration found on each subset variant and its test accuracy when "
          "retrained on the whole training set")


def table7_of_study(max_trials_at_r: int, epochs: int, dataset: str) -> str:
    """TABLE7 with the settings of one subset study."""
    return (f"{TABLE7} for {epochs} epochs (ASHA's N_m = {max_trials_at_r}; {dataset}, balanced test set)")
