"""Models in pure Python (pandas / numpy / scipy / LightFM), no Django, testable without a database.

The item recommender:
    data           interaction frames, catalog, the offline split protocol, indexed interactions
    signals        the person's own history, popularity and trend, user profiles
    itemknn        item-item correlation ("people who engaged with X also engaged with Y")
    ease           EASE, a closed-form item-item model for the most popular items
    factorization  LightFM with user and item side features
    blend          fit_recommender → FittedRecommender: every signal, blended, tuned on validation
    metrics        top-k metrics and the partial top-k used by every scorer
    evaluation     the protocol behind `evaluate_recommender`

Nothing is imported here, so importing one module does not load the others (LightFM included).
"""
