"""The dashboard at /dashboard/: what the roster's data means at a glance, for operators logged in
to the admin. The page draws every number from the reports API (`/api/reports/*`) with Plotly's
JavaScript, which the `plotly` package ships and the service serves from its own origin."""
