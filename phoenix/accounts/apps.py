from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "phoenix.accounts"
    label = "accounts"
    verbose_name = "Accounts"
