"""Notification types and each segment's policy, from the original project's tables, fixed.

From shared/data/seed/: Segment_Mapping.csv (segment x type, 0/1) and Recommended_Frequency.csv
(times per week). Fixes, per shared/data/README.md:
- "Educational Content" appeared twice; it is one type here.
- e-mail wording ("Welcome Email Series", "We miss you emails"…) is dropped; the meaning is kept.
- entries lost to typos are restored from the stated intent of each segment (marked "+ intent").
- the weekly frequency becomes an enforced cap.
Four types were never used by any segment; they exist here so marketers can assign them.
"""

from django.db import migrations

# slug, name (original name in the comment where it changed), carries items, title, body
TYPES = [
    ("holiday-promotions", "Holiday promotions", True,
     "Holiday picks for you", "{first_item} and more: seasonal offers are on now."),
    ("sale-promotions", "Sale promotions", True,
     "The sale is on", "Save on {first_item} and other favourites."),
    ("new-product-offerings", "New product offerings", True,
     "New in: {first_item}", "Fresh arrivals picked for you."),
    ("company-announcements", "Company announcements", False,
     "News from us", "We have something to share. Tap to read."),
    ("welcome-series", "Welcome series", False,  # "Welcome Email Series"
     "Welcome!", "Here is how to get the most out of the app."),
    ("cart-recovery", "Cart recovery prompts", True,
     "Still thinking about {first_item}?", "Your cart is waiting. Complete your order in one tap."),
    ("newsletter", "Newsletter", True,  # "Newsletters"
     "This week's highlights", "{first_item} and more we think you will like."),
    ("customer-testimonials", "Customer testimonials", False,
     "Loved by customers", "See what others say about their favourites."),
    ("first-order-coupon", "First-order coupon", True,  # "First-order-only coupons"
     "A gift for your next order", "Use it on {first_item} or anything else."),
    ("order-updates", "Order updates", False,  # "Order Confirmation"
     "Your order", "Track your latest order in the app."),
    ("reorder-reminder", "Re-order reminder", True,  # "Re-Ordering Forms" (never used)
     "Time to re-order?", "Get {first_item} again in one tap."),
    ("product-advice", "Product advice", True,
     "Tips for your {first_item}", "Make the most of what you bought."),
    ("product-recommendation", "Product recommendation", True,
     "Picked for you: {first_item}", "Based on what you like: {item_count} ideas inside."),
    ("educational-content", "Educational content", False,  # listed twice in the original
     "Learn something new", "Guides and ideas from our team."),
    ("satisfaction-survey", "Satisfaction survey", False,  # "Customer Satisfaction Surveys" (never used)
     "How are we doing?", "Tell us in 30 seconds."),
    ("review-request", "Product review request", True,
     "How is your {first_item}?", "Leave a quick review to help others choose."),
    ("early-access", "Early access to new products", True,  # never used in the original
     "Early access: {first_item}", "Be the first to get it, before everyone else."),
    ("referral", "Referral prompt", False,  # "Dedicated Referral Prompts"
     "Share the love", "Invite a friend and you both get a reward."),
    ("exclusive-coupons", "Exclusive coupons", True,
     "An exclusive coupon for you", "Save on {first_item}: just for you."),
    ("win-back-survey", "Win-back survey", False,
     "We would love your opinion", "What would bring you back? Tell us."),
    ("time-sensitive-coupons", "Time-sensitive coupons", True,
     "Ends soon: your coupon", "Use it on {first_item} before it expires."),
    ("we-miss-you", "We miss you", True,  # "We miss you emails"
     "We miss you", "{first_item} and new favourites are waiting for you."),
    ("big-product-update", "Big product update", True,
     "Big update: {first_item}", "See what is new."),
    ("service-update", "Customer service update", False,  # never used in the original
     "Service update", "Something changed that affects your orders. Tap for details."),
    ("major-announcement", "Major announcement", False,
     "Big news", "Tap to see what is new."),
    ("big-discounts", "Big product discounts", True,
     "Big discounts on {first_item}", "Deep price cuts on items you like."),
    ("how-can-we-help", "How can we help?", False,  # "How-can we help? questionaires"
     "How can we help?", "Tell us what you are looking for."),
    ("last-chance", "Last-chance offer", True,  # "last-ditch emails"
     "Last chance: a gift for you", "Come back for {first_item}. The offer ends soon."),
    ("membership", "Membership", False,
     "Join the club", "Members get early offers and free delivery."),
    ("personalised-picks", "Personalised picks", True,  # "Personalized Email"
     "Your personal picks", "{first_item} and {item_count} more chosen for you."),
    ("reach-out", "Reach out", False,  # "Reach Out Campaigns"
     "It has been a while", "Here is what you missed."),
]

# segment slug: (weekly cap, strategy, types from the original table, types restored from intent)
POLICIES = {
    "champions": (3, "Reward them", [
        "holiday-promotions", "sale-promotions", "new-product-offerings", "company-announcements",
        "referral", "exclusive-coupons", "big-product-update", "major-announcement",
    ], ["early-access"]),
    "loyal": (3, "Keep them engaged", [
        "holiday-promotions", "sale-promotions", "new-product-offerings", "product-advice",
        "educational-content", "review-request", "referral", "big-product-update", "major-announcement",
    ], ["reorder-reminder"]),
    "potentially-loyal": (2, "Offers and loyalty programmes", [
        "company-announcements", "customer-testimonials", "product-recommendation", "membership",
    ], ["sale-promotions", "exclusive-coupons"]),
    "new": (2, "Product recommendations", [
        "sale-promotions", "welcome-series", "cart-recovery", "newsletter", "order-updates",
        "educational-content", "membership",
    ], ["product-recommendation"]),
    "promising": (2, "Offers and free trials", [
        "sale-promotions", "newsletter", "customer-testimonials", "first-order-coupon", "order-updates",
        "time-sensitive-coupons", "big-product-update", "how-can-we-help",
    ], []),
    "needs-attention": (1, "Limited-time offers", [
        "product-advice", "product-recommendation", "educational-content", "exclusive-coupons",
        "win-back-survey", "time-sensitive-coupons", "we-miss-you", "big-product-update",
        "big-discounts", "how-can-we-help",
    ], []),
    "about-to-sleep": (1, "Popular products and discounts", [
        "exclusive-coupons", "win-back-survey", "big-discounts", "last-chance",
    ], ["product-recommendation"]),
    "at-risk": (1, "Win them back", ["last-chance"], ["we-miss-you", "win-back-survey", "exclusive-coupons"]),
    "cant-lose": (1, "Win them back", ["exclusive-coupons", "win-back-survey"], ["we-miss-you", "last-chance"]),
    "hibernating": (1, "Win them back", [
        "newsletter", "customer-testimonials", "educational-content", "exclusive-coupons",
        "we-miss-you", "big-product-update", "big-discounts",
    ], []),
    "lost": (1, "Win them back", ["personalised-picks", "reach-out"], ["we-miss-you", "last-chance"]),
}


def seed(apps, schema_editor):
    NotificationType = apps.get_model("campaigns", "NotificationType")
    SegmentPolicy = apps.get_model("campaigns", "SegmentPolicy")
    Segment = apps.get_model("recommender", "Segment")

    types = {}
    for slug, name, carries_items, title, body in TYPES:
        types[slug], _ = NotificationType.objects.update_or_create(
            slug=slug,
            defaults=dict(
                name=name,
                carries_items=carries_items,
                title_template=title,
                body_template=body,
                deep_link_template="app://item/{first_item_id}" if carries_items else "app://home",
            ),
        )
    for segment_slug, (cap, strategy, original, restored) in POLICIES.items():
        policy, _ = SegmentPolicy.objects.update_or_create(
            segment=Segment.objects.get(slug=segment_slug),
            defaults=dict(weekly_cap=cap, strategy=strategy),
        )
        policy.allowed_types.set([types[s] for s in original + restored])


def unseed(apps, schema_editor):
    apps.get_model("campaigns", "SegmentPolicy").objects.all().delete()
    apps.get_model("campaigns", "NotificationType").objects.filter(slug__in=[t[0] for t in TYPES]).delete()


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0001_initial"), ("recommender", "0002_seed_segments")]
    operations = [migrations.RunPython(seed, unseed)]
