import pytest

from hpo.budget import Budget, BudgetExceeded


def test_charges_refunds_and_never_overspends():
    budget = Budget(10)
    budget.charge(0, 4)
    budget.charge(1, 6)
    assert budget.remaining == 0 and dict(budget.by_trial) == {0: 4, 1: 6}
    with pytest.raises(BudgetExceeded):
        budget.charge(2, 1)
    budget.refund(1, 2)
    assert budget.spent == 8 and budget.by_trial[1] == 4
    with pytest.raises(ValueError):
        budget.refund(0, 5)
    with pytest.raises(ValueError):
        Budget(0)
