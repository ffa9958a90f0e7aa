"""One variant trained under several settings, each over the same seeds, paired on the same test reviews.

Each setting is a `stages compare` grid already run (its experiments are named PREFIX-VARIANT-sSEED);
the first is the reference. Applies the comparison's statistics (two-level bootstrap over test
reviews and seeds, paired p-value) to each setting's difference from the reference::

    stages compare                                                       # cmp-bigru-wv-s42..44 among the 18 runs
    stages compare --cell gru --bidirectional true -S model.units=128 --prefix uone --out /tmp/uone
    python bench/over_seeds.py cmp uone                                  # BiGRU(128) against BiGRU(64)

A grid of another variant is named PREFIX:VARIANT (``dthreer:bigru``: a ``--init random`` grid).
"""

import argparse

import numpy as np

from stages.commands import compare, statistics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prefixes", nargs="+", help="the reference grid's PREFIX[:VARIANT] first, then the others")
    parser.add_argument("--variant", default="bigru-wv", help="the variant's name in the experiments")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    args = parser.parse_args()
    labels = compare.read_test_labels()
    commits = compare.experiment_commits()
    runs = {}
    for name in args.prefixes:
        prefix, _, variant = name.partition(":")
        runs[name] = [
            compare.read_run(commits[f"{prefix}-{variant or args.variant}-s{seed}"], labels, 0.5) for seed in args.seeds
        ]
    samples = statistics.resampled_accuracies({name: np.stack([r["correct"] for r in rs]) for name, rs in runs.items()})
    for name, rs in runs.items():
        accuracy = [r["test_accuracy"] for r in rs]
        low, high = statistics.interval(samples[name])
        print(
            f"{name}: test {np.mean(accuracy):.4f} ± {np.std(accuracy, ddof=1):.4f} (seeds {accuracy}), "
            f"95% interval {low:.4f}-{high:.4f}; validation accuracy {np.mean([r['val_accuracy'] for r in rs]):.4f}, "
            f"loss {np.mean([r['val_loss'] for r in rs]):.4f}; {np.mean([r['epoch_time_s'] for r in rs]):.0f} s/epoch"
        )
    reference, *others = args.prefixes
    for name in others:
        difference = samples[name] - samples[reference]
        low, high = statistics.interval(difference)
        print(
            f"{name} - {reference}: {difference.mean() * 100:+.2f} points (95% interval {low * 100:+.2f} to "
            f"{high * 100:+.2f}), paired p {statistics.paired_p_value(difference):.2g}"
        )


if __name__ == "__main__":
    main()
