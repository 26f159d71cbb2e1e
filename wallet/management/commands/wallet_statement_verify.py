import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from rest_framework.renderers import JSONRenderer

from wallet.api.serializers import StatementSerializer
from wallet.selectors import wallet_statement
from wallet.statement import statement_verify, statement_verify_file


class Command(BaseCommand):
    help = ("Verify a wallet statement (the JSON of GET /luna/energy/statement/{user_id}) saved in FILE, "
            "optionally against an earlier one (--previous); or, with --user, produce a user's statement "
            "from the database (to --out) and verify it. Exit status 1 when verification fails.")

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", help="A saved statement (JSON).")
        parser.add_argument("--previous", help="An earlier statement of the same wallet (JSON).")
        parser.add_argument("--user", help="A user's public id: build their statement now.")
        parser.add_argument("--out", help="With --user: write the statement there.")

    def handle(self, *args, **options):
        if options["user"]:
            user = get_user_model().objects.filter(public_id=options["user"]).first()
            if user is None:
                raise CommandError("No such user.")
            body = JSONRenderer().render(StatementSerializer(wallet_statement(user=user)).data)
            if options["out"]:
                with open(options["out"], "wb") as handle:
                    handle.write(body)
            problems = statement_verify(json.loads(body))
        elif options["file"]:
            problems = statement_verify_file(options["file"], previous_path=options["previous"])
        else:
            raise CommandError("Give a statement FILE or --user.")
        for problem in problems:
            self.stdout.write(f"FAILED {problem}")
        if problems:
            raise SystemExit(1)
        self.stdout.write("statement verified")
