"""Send-time model: at which hour of a given day is a person most likely to be active?

Everything here works on *user-days*: one row per (person, calendar day in some clock) with a 24-bit mask
of the hours in which the person had at least one event. The clock is UTC for the offline evaluation and
the person's local time (from their IANA zone, daylight saving included) in the product.

The quantity scored for an hour h is the chance that, on a day the person is active, they are active at h
or h + 1: a push at h is seen if the person shows up within about two hours. On real logs a person's own
history is a weak signal (their average hour varies about a tenth as much between people as from day to
day) and naive personal policies lose to one global hour. The simplest personal policy, ``profile``
(profile.py), shrinks the person's own rates toward the weekday's population profile, or toward what people
with the same hours did on that kind of day, by how many active days they have, with weekdays and weekends
apart where their history shows it; it is what a log of a week or two supports. For long logs the model also
combines three estimates:

- ``blend`` — the person's own rates mixed with the weekday's population profile, trust growing with their
  active days; how fast (and how far) is chosen on past windows;
- ``shifted`` — the weekday's population profile moved to the person's own average hour, shrunk toward the
  population's by as many days as the data says (within-person over between-person variance): one number per
  person, far less noisy than a 24-hour histogram;
- ``learned`` — a gradient-boosted classifier over population rates and the person's own (raw, smoothed,
  shrunk, recency-weighted, same-weekday) rates, trained on the same pseudo-test windows, so it learns how
  much to trust a history like this one from how well such histories predicted the following weeks.

Their mean (``ensemble``) and ``profile`` compete with the population's best hour (``dow_hour`` per weekday, or
``hour``) on the last windows before the cutoff, a more complex policy needing a margin beyond chance, so where
personal history is useless the model falls back to the population. Every window repeats the evaluation
protocol: features from before it, targets inside it.

    days         user-days, the population profile, the (person, day) targets
    features     the features of each (person, day, hour)
    profile      the person's rates shrunk toward the population or their neighbours (Shrinkage)
    model        TimingModel and fit_timing_model
    send_hours   in the product: the best hours of a person's coming week, quiet hours left out

Import the public names from here.
"""

from recommender.ml.timing.days import PopulationProfile, Targets, UserDays, dow_of_day, window_hits
from recommender.ml.timing.features import FEATURES, hour_features
from recommender.ml.timing.model import BLENDS, POLICIES, Blend, TimingModel, fit_timing_model
from recommender.ml.timing.profile import SHRINKAGES, HourNeighbours, ProfileCounts, Shrinkage, profile_counts
from recommender.ml.timing.send_hours import QuietHours, SendHour, best_send_hours, coming_week_slots, local_user_days

__all__ = [
    "BLENDS",
    "FEATURES",
    "POLICIES",
    "Blend",
    "HourNeighbours",
    "PopulationProfile",
    "ProfileCounts",
    "QuietHours",
    "SHRINKAGES",
    "SendHour",
    "Shrinkage",
    "Targets",
    "TimingModel",
    "UserDays",
    "best_send_hours",
    "coming_week_slots",
    "dow_of_day",
    "fit_timing_model",
    "hour_features",
    "local_user_days",
    "profile_counts",
    "window_hits",
]
