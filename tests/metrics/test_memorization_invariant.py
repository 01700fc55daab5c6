"""Memorization under flips, turns and shifts (issue 20, part 5): the
flipped-copy generator of the GAN lecture passes the plain nearest-neighbour
check and is caught here; fresh images are not."""
import numpy as np
import pytest
import torch

from ganscape.data.digits import DigitsParams, digits
from ganscape.metrics.evaluate import evaluate_arrays
from ganscape.metrics.memorization import memorization
from ganscape.metrics.memorization_invariant import invariant_nn_distances, memorized_fraction, transforms


def test_the_groups_have_their_sizes_and_undo_a_flip_a_turn_and_a_shift():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)     # no symmetry: every transform is a different image
    assert len(transforms(x, "none", 0)) == 1 and len(transforms(x, "flips", 1)) == 18
    d8 = transforms(x, "dihedral", 0)
    assert len(d8) == 8 and len({tuple(t.flatten().tolist()) for t in d8}) == 8
    moved = torch.roll(torch.rot90(x.flip(-1), 1, dims=(-2, -1)), shifts=(1, 0), dims=(-2, -1))
    assert invariant_nn_distances(moved, x, "flips", 1)[0] > 1       # a turn is not a flip
    # rolling back undoes the shift, rot90 by 3 undoes the turn, the flip the mirror: distance 0
    assert invariant_nn_distances(moved, x, "dihedral", 1)[0] == 0
    with pytest.raises(ValueError, match="group 'turns' is not allowed"):
        transforms(x, "turns", 0)


def test_the_flipped_copy_generator_is_missed_by_the_plain_check_and_caught_here():
    train = digits(DigitsParams(), "train").floats()
    test = digits(DigitsParams(), "test").floats()
    copies = train[:300].flip(-1)                 # the lecture's cheat: mirrored training digits
    plain = memorization(copies.numpy(), train.numpy())["fraction_near_copies"]
    assert plain < 0.2                            # today's metric misses it
    held, fresh = test[:150], test[150:]          # calibrate on one half, score the other (new images)
    caught = memorized_fraction(copies, train, held, "flips", 1, quantile=0.05)
    assert caught["fraction_memorized"] > 0.95
    assert memorized_fraction(fresh, train, held, "flips", 1, quantile=0.05)["fraction_memorized"] < 0.2
    shifted = torch.roll(copies, shifts=(0, 1), dims=(-2, -1))   # mirrored and moved by a pixel: still caught
    assert memorized_fraction(shifted, train, held, "flips", 1, quantile=0.05)["fraction_memorized"] > 0.9
    # through the metric registry, with the data sets as a run would pass them
    out = evaluate_arrays(copies, train, ["memorization-invariant"], extractor="digits-cnn",
                          train=digits(DigitsParams(), "train"), heldout=digits(DigitsParams(), "test"))
    assert out["results"]["memorized_fraction"] > 0.95
