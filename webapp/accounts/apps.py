from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "webapp.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from webapp.accounts import throttling

        user_login_failed.connect(throttling.on_login_failed, dispatch_uid="accounts.throttle_login_failed")
        user_logged_in.connect(throttling.on_logged_in, dispatch_uid="accounts.throttle_logged_in")
