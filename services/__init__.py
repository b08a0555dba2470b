"""Server-side services for the app: dataset storage and the memoised analysis cache."""
