"""Resolvers: field resolvers only, thin — authorise, call the domain, map domain errors to userErrors."""
