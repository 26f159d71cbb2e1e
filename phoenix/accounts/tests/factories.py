import factory

from phoenix.accounts.models import User

DEFAULT_PASSWORD = "a-Long-test-passphrase-42"


class UserFactory(factory.django.DjangoModelFactory):
    """A bare user row. Use `phoenix.accounts.services.user_register` (or the
    `registered_user` fixture) when the test needs what registration opens
    (access, wallet)."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    password = factory.PostGenerationMethodCall("set_password", DEFAULT_PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()
