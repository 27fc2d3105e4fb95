from django.db import models


class Heartbeat(models.Model):
    """The last sign of life of a background component (the worker, the sweeper)."""

    name = models.CharField(max_length=64, primary_key=True)
    at = models.DateTimeField()

    def __str__(self):
        return f"{self.name} at {self.at:%Y-%m-%d %H:%M:%S}"
