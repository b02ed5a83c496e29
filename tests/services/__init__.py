"""Real servers the tests start for themselves on loopback: a PostgreSQL cluster and a Spark
standalone cluster. Nothing here talks to a server someone else started."""
