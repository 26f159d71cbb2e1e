from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "phoenix.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from phoenix.accounts import customer

        customer.register()  # the customer page's identity section, search by e-mail / public id
