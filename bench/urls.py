"""bench_luna's URLs: Phoenix's, plus the minimal view it compares the consume endpoint with."""

from django.urls import path

from bench.views import MinimalDebitView
from phoenix.urls import urlpatterns as phoenix_urlpatterns

urlpatterns = [path("bench/minimal-debit", MinimalDebitView.as_view()), *phoenix_urlpatterns]
