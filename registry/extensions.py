"""The Flask extensions, created unbound so that models and services import them without cycles."""

from typing import TYPE_CHECKING

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.model import Model as FlaskModel
from flask_sqlalchemy.session import Session as FlaskSession
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase, scoped_session

from registry.smtp import TimeoutMail

# Named constraints keep migrations identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """The typed declarative base: Flask-SQLAlchemy builds `db.Model` from it, metadata included."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


if TYPE_CHECKING:

    class ScopedSession(scoped_session[FlaskSession], FlaskSession):  # type: ignore[misc]
        """What `db.session` is to a type checker: the scoped proxy and the session it stands for.

        At run time `db.session` is a `scoped_session` whose methods forward to the current app
        context's session, so services typed against `sqlalchemy.orm.Session` take it as it is.
        The ignore: the proxy spells `get_bind` and `scalar` with other overloads, same behaviour.
        """


class Database(SQLAlchemy):
    """Flask-SQLAlchemy, with `session` typed as something services typed against Session accept."""

    if TYPE_CHECKING:
        session: ScopedSession


db = Database(model_class=Base)

if TYPE_CHECKING:

    class Model(FlaskModel, Base):
        """What `db.Model` is at run time: the declarative base plus Flask-SQLAlchemy's helpers.

        mypy cannot use an attribute of an object (`db.Model`) as a base class, so models
        subclass this name instead; at run time it is `db.Model` itself.
        """

        __abstract__ = True

else:
    Model = db.Model

login_manager = LoginManager()
csrf = CSRFProtect()
mail = TimeoutMail()
# Limits are declared where they apply (sign-in, subscribe); storage comes from RATELIMIT_STORAGE_URI.
limiter = Limiter(key_func=get_remote_address)
