"""``python -m neural_heatmap_cli``: the same as the ``neural-heatmap`` command."""

from neural_heatmap_cli.app import main

main()
