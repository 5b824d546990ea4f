"""Models in pure Python (pandas / numpy / scipy / LightFM / scikit-learn), no Django, testable without a database.

    clock            the hour of the week, quiet hours, UTC offsets, ms constants: the one time-helpers module
    data             interaction frames, catalog, the offline split protocol, indexed interactions
    ranking_signals  ranking signals that need no model: the person's history with each item, popularity
    itemknn          item-item correlation ("people who engaged with X also engaged with Y")
    ease             EASE, a closed-form item-item model for the most popular items
    factorization    LightFM with user and item side features
    ranking/         fit_recommender → FittedRecommender: every signal, blended, tuned on validation
    metrics          top-k metrics and the partial top-k used by every scorer
    evaluation       the protocol behind `evaluate_recommender`
    click/           ClickModel: P(open | customer, notification type, local hour of week)
    timing/          TimingModel and best_send_hours: the send-time model; timing_eval behind `evaluate_timing`
    rfm              RFM scores and segments

Nothing is imported here, so importing one module does not load the others (LightFM included); each package
(ranking, click, timing) exports its public names from its ``__init__``.
"""
