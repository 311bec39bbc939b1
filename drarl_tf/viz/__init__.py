"""Visual explanations: attention-mask overlays, Grad-CAM, gradient statistics, videos."""
