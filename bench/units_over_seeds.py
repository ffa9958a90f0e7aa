"""BiGRU(128) against BiGRU(64), both over seeds 42-44, paired on the same test reviews.

Reads two `stages compare` grids from their DVC experiments and applies the comparison's own
statistics (two-level bootstrap over test reviews and seeds, paired p-value)::

    stages compare                                                    # cmp-bigru-wv-s42..44 among the 18 runs
    stages compare --cell gru --bidirectional true -S model.units=128 --prefix uone --out /tmp/u128
    python bench/units_over_seeds.py
"""

import numpy as np

from stages.commands import compare, statistics

GROUPS = {"BiGRU(64)": "cmp-bigru-wv-s", "BiGRU(128)": "uone-bigru-wv-s"}
SEEDS = (42, 43, 44)


def main() -> None:
    labels = compare.read_test_labels()
    commits = compare.experiment_commits()
    runs = {name: [compare.read_run(commits[f"{prefix}{seed}"], labels, 0.5) for seed in SEEDS]
            for name, prefix in GROUPS.items()}  # fmt: skip
    samples = statistics.resampled_accuracies({name: np.stack([r["correct"] for r in rs]) for name, rs in runs.items()})
    for name, rs in runs.items():
        accuracy = [r["test_accuracy"] for r in rs]
        low, high = statistics.interval(samples[name])
        print(f"{name}: test {np.mean(accuracy):.4f} ± {np.std(accuracy, ddof=1):.4f} (seeds {accuracy}), "
              f"95% interval {low:.4f}-{high:.4f}, validation accuracy {np.mean([r['val_accuracy'] for r in rs]):.4f}, "
              f"{np.mean([r['epoch_time_s'] for r in rs]):.0f} s/epoch")  # fmt: skip
    first, second = GROUPS
    difference = samples[second] - samples[first]
    low, high = statistics.interval(difference)
    print(f"{second} - {first}: {difference.mean() * 100:+.2f} points (95% interval {low * 100:+.2f} to "
          f"{high * 100:+.2f}), paired p {statistics.paired_p_value(difference):.2g}")  # fmt: skip


if __name__ == "__main__":
    main()
