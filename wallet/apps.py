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
        register_profile_section("energy", selectors.wallet_energy_summary)

        from django.db.models.signals import post_delete, post_save

        from wallet.models import EnergyAction, EnergyPack

        # The catalogue is read from process memory (wallet.selectors.catalogue): a change
        # bumps its version once committed.
        from wallet.signals import catalogue_bulk_changed

        for model in (EnergyAction, EnergyPack):
            for signal in (post_save, post_delete, catalogue_bulk_changed):
                signal.connect(receivers.catalogue_changed, sender=model,
                               dispatch_uid=f"wallet.catalogue_changed.{model.__name__}.{id(signal)}")

        from phoenix.core.visibility import register_activity_reader
        from wallet.selectors.activity import collaborator_activity_recent

        # A collaborator's activity for pages above core that show it (licenses' pro account admin).
        register_activity_reader(collaborator_activity_recent)

        from wallet import metrics

        metrics.register()  # pending holds, health findings, expired holds (phoenix.core.metrics)

        # The admin dashboard's wallet panels.
        from phoenix.core.dashboard import DashboardPanel, register_dashboard_panel
        from wallet import dashboard

        register_dashboard_panel(DashboardPanel(key="wallet-health", title="Wallet health",
                                                template="admin/dashboard/wallet_health.html",
                                                build=dashboard.health_panel, order=10))
        register_dashboard_panel(DashboardPanel(key="energy", title="Energy",
                                                template="admin/dashboard/energy.html",
                                                build=dashboard.energy_panel, order=30))
        register_dashboard_panel(DashboardPanel(key="energy-lots", title="Energy lots",
                                                template="admin/dashboard/energy_lots.html",
                                                build=dashboard.energy_lots_panel, order=31))

        # The customer page's wallet sections and the search by hold / operation id.
        from wallet import customer

        customer.register()
