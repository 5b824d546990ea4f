from django.apps import AppConfig


class RecommenderConfig(AppConfig):
    name = "recommender"
    verbose_name = "Catalog, behaviour and models"

    def ready(self) -> None:
        from recommender import signals  # noqa: F401  (erasure reaches the saved models)
