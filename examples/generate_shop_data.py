"""Write the offline example data under data/shop/ (run once; the output is committed).

    python examples/generate_shop_data.py

Everything is seeded, so running it again writes the same bytes: customers.csv
(with a quoted comma, a quoted newline and R-style `NA`), products.json, and one
gzipped JSON Lines file of orders per month.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "data" / "shop"
SEED = 20240501

FIRST = ["Ada", "Alan", "Grace", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances", "Edsger",
         "Sophie", "Tim", "Radia", "Guido", "Hedy", "John", "Katherine", "Donald", "Annie", "Niklaus"]
LAST = ["Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Thompson", "Liskov", "Ritchie", "Allen",
        "Dijkstra", "Wilson", "Berners-Lee", "Perlman", "van Rossum", "Lamarr", "McCarthy", "Johnson",
        "Knuth", "Easley", "Wirth"]
PLACES = [("Oslo", "NO"), ("Bergen", "NO"), ("Berlin", "DE"), ("Hamburg", "DE"), ("Paris", "FR"), ("Lyon", "FR"),
          ("London", "GB"), ("Leeds", "GB"), ("Madrid", "ES"), ("Lisbon", "PT"),
          ("Boston", "US"), ("Austin", "US"), ("Toronto", "CA"), ("Zürich", "CH")]
CATEGORIES = {"books": ["paperback", "hardcover", "ebook"], "games": ["board", "card", "puzzle"],
              "garden": ["tools", "seeds", "outdoor"], "kitchen": ["cookware", "gadgets", "coffee"]}
STATUSES = ["placed", "shipped", "delivered", "cancelled"]
MONTHS = ["2024-01", "2024-02", "2024-03", "2024-04"]


def customers(rng: random.Random) -> list[dict[str, str]]:
    rows = []
    for n in range(1, 201):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        signed_up = datetime(2023, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=rng.randrange(365 * 86_400))
        rows.append({"id": str(n), "name": f"{first} {last}", "email": f"{first}.{last}.{n}@example.com".lower()
                     .replace(" ", ""), "country": rng.choice(PLACES)[1],
                     "signed_up_at": signed_up.strftime("%Y-%m-%dT%H:%M:%SZ"), "notes": ""})
    rows[6].update(name="Lovelace, Ada", email="ada.lovelace.7@example.com")  # a quoted comma
    rows[11]["notes"] = "Prefers email.\nCall only after 6pm."  # a quoted newline
    rows[22]["notes"] = 'Wrote "the best review" of 2023'   # quoted quotes
    for index in (3, 45, 101):
        rows[index]["notes"] = "NA"                         # R-style missing value
    rows[150]["signed_up_at"] = "NA"                        # signed up before records began
    return rows


def products(rng: random.Random) -> list[dict[str, object]]:
    items = []
    for n in range(1, 51):
        category = list(CATEGORIES)[n % len(CATEGORIES)]
        tags = rng.sample(CATEGORIES[category], k=rng.randint(1, 2)) + (["sale"] if n % 7 == 0 else [])
        items.append({"sku": f"SKU-{n:03d}", "name": f"{category.title()} item {n}", "category": category,
                      "price": round(rng.uniform(3, 120), 2), "tags": tags})
    return items


def orders(rng: random.Random, skus: list[str]) -> dict[str, list[dict[str, object]]]:
    by_month: dict[str, list[dict[str, object]]] = {m: [] for m in MONTHS}
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    moments = sorted(rng.randrange(121 * 86_400) for _ in range(2000))
    for n, second in enumerate(moments, start=1):
        at = start + timedelta(seconds=second)
        city, country = rng.choice(PLACES)
        lines = [{"sku": sku, "quantity": rng.randint(1, 3), "unit_price": round(rng.uniform(3, 120), 2)}
                 for sku in rng.sample(skus, k=rng.randint(1, 4))]
        by_month[at.strftime("%Y-%m")].append({
            "id": n, "customer_id": rng.randint(1, 200), "ordered_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "status": rng.choices(STATUSES, weights=[2, 3, 8, 1])[0],
            "shipping": {"city": city, "country": country}, "items": lines})
    return by_month


def write() -> None:
    rng = random.Random(SEED)
    (ROOT / "orders").mkdir(parents=True, exist_ok=True)
    people = customers(rng)
    with (ROOT / "customers.csv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(people[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(people)
    catalogue = products(rng)
    (ROOT / "products.json").write_text(json.dumps({"products": catalogue}, indent=1) + "\n", encoding="utf-8")
    for month, rows in orders(rng, [p["sku"] for p in catalogue]).items():
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()
        buffer = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as gz:  # same bytes every run
            gz.write(text)
        (ROOT / "orders" / f"{month}.jsonl.gz").write_bytes(buffer.getvalue())


if __name__ == "__main__":
    write()
