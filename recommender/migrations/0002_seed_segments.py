"""The eleven RFM segments, with rules that give every customer exactly one of them.

Fixed from the original project's tables (see shared/data/README.md): recency is scored so that
5 = most recent, and the rules are checked in priority order so that the first match wins; the
rules below cover all 125 (R, F, M) cells. Marketers may edit them in the admin.
"""

from django.db import migrations

# name, slug, priority, (R min, R max), (F min, F max), (M min, M max), description
SEGMENTS = [
    ("Champions", "champions", 10, (4, 5), (4, 5), (4, 5),
     "Bought recently, buy often and spend the most."),
    ("Cant Lose", "cant-lose", 20, (1, 2), (4, 5), (4, 5),
     "Used to buy often and spend a lot, but have not come back for a long time."),
    ("Loyal", "loyal", 30, (3, 5), (3, 5), (1, 5),
     "Buy regularly and recently."),
    ("At Risk", "at-risk", 40, (1, 2), (3, 5), (1, 5),
     "Bought regularly in the past, but not for a long time."),
    ("New", "new", 50, (5, 5), (1, 1), (1, 5),
     "Made their first purchase very recently."),
    ("Promising", "promising", 60, (4, 4), (1, 1), (1, 5),
     "Bought once, fairly recently."),
    ("Potentially Loyal", "potentially-loyal", 70, (4, 5), (2, 2), (1, 5),
     "Recent customers with a few purchases: could become loyal."),
    ("Needs Attention", "needs-attention", 80, (3, 3), (2, 5), (1, 5),
     "A few purchases, and their last one is neither recent nor old."),
    ("About To Sleep", "about-to-sleep", 90, (3, 3), (1, 1), (1, 5),
     "One purchase, a while ago; slipping away."),
    ("Hibernating", "hibernating", 100, (2, 2), (1, 2), (1, 5),
     "Few purchases, long ago."),
    ("Lost", "lost", 110, (1, 1), (1, 2), (1, 5),
     "Few purchases, and the last one very long ago."),
]


def seed_segments(apps, schema_editor):
    Segment = apps.get_model("recommender", "Segment")
    for name, slug, priority, r, f, m, description in SEGMENTS:
        Segment.objects.update_or_create(
            slug=slug,
            defaults=dict(
                name=name, priority=priority, description=description,
                recency_min=r[0], recency_max=r[1],
                frequency_min=f[0], frequency_max=f[1],
                monetary_min=m[0], monetary_max=m[1],
            ),
        )


def remove_segments(apps, schema_editor):
    apps.get_model("recommender", "Segment").objects.filter(slug__in=[s[1] for s in SEGMENTS]).delete()


class Migration(migrations.Migration):
    dependencies = [("recommender", "0001_initial")]
    operations = [migrations.RunPython(seed_segments, remove_segments)]
