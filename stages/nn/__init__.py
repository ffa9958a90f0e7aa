"""The networks and how they train: the classifier, its length-aware layers, adversarial training, ensembles, batching, saving, resumable state, distribution and pretrained starts."""
