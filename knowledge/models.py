from django.db import models


class Document(models.Model):
    """A source document of the knowledge base, stored as extracted text."""

    title = models.CharField(max_length=200)
    source = models.CharField(max_length=300, blank=True, help_text="File name or URL.")
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title
