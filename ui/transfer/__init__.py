"""The transfer-learning page: data, a training run, results, and Grad-CAM on the mistakes."""
