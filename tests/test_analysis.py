import torch

from avsnn.analysis import class_subsample


def test_class_subsample_takes_the_first_of_each_class():
    labels = torch.tensor([2, 0, 1, 0, 2, 0, 1])
    idx = class_subsample(labels, 2)
    assert idx.tolist() == [1, 3, 2, 6, 0, 4]
    assert labels[class_subsample(labels, 5)].bincount().tolist() == [3, 2, 2]
