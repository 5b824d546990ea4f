"""Item.recommendable: postage, fees and other non-products are never recommended. Items already
in the catalog get the default guess from their id and title."""

from django.db import migrations, models

from recommender.non_products import looks_like_non_product


def mark_non_products(apps, schema_editor):
    Item = apps.get_model("recommender", "Item")
    non_products = [
        pk
        for pk, external_id, title in Item.objects.values_list("pk", "external_id", "title").iterator(chunk_size=5000)
        if looks_like_non_product(external_id, title)
    ]
    for start in range(0, len(non_products), 1000):
        Item.objects.filter(pk__in=non_products[start : start + 1000]).update(recommendable=False)


class Migration(migrations.Migration):
    dependencies = [
        ("recommender", "0004_profile_scores_empty_without_events"),
    ]

    operations = [
        migrations.AddField(
            model_name="item",
            name="recommendable",
            field=models.BooleanField(
                default=True,
                help_text="Off for lines that are not products (postage, fees, gift wrap): never recommended, "
                "whatever people buy. Detected from the id and title when the shop does not say.",
            ),
        ),
        migrations.RunPython(mark_non_products, migrations.RunPython.noop),
    ]
