from django.apps import AppConfig


class WalletConfig(AppConfig):
    name = "wallet"
    verbose_name = "Wallet"

    def ready(self) -> None:
        from phoenix.accounts.profile import register_profile_section
        from phoenix.accounts.signals import user_registered
        from wallet import receivers, selectors

        # Registration opens the wallet (welcome grant) inside its own transaction.
        user_registered.connect(receivers.open_wallet_on_registration,
                                dispatch_uid="wallet.open_wallet_on_registration")
        register_profile_section("energy", selectors.wallet_balance)
