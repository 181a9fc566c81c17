#!/usr/bin/env python3
"""Writes the small, deterministic data set the SQL suites read.

Run from anywhere: python3 sql-tests/data/generate.py
The CSV files are committed; rerun only when changing the data.
"""
import csv
import datetime
import pathlib
import random

HERE = pathlib.Path(__file__).resolve().parent
rng = random.Random(20261122)

DEPTS = [
    (1, "engineering", "Berlin"),
    (2, "sales", "Paris"),
    (3, "finance", "London"),
    (4, "support", "Lisbon"),
]
FIRST = ["ada", "bob", "cyd", "dee", "eve", "fay", "gus", "hal", "ivy", "jon",
         "kim", "lou", "max", "ned", "oda", "pam", "quin", "ray", "sue", "tom"]


def write(name, header, rows):
    with open(HERE / name, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


write("depts.csv", ["dept_id", "name", "city"], DEPTS)

people = []
for i in range(1, 41):
    dept = rng.choice(DEPTS)[0] if i % 13 else ""  # a few people without a department
    salary = rng.randrange(30_000, 150_000, 500)
    hired = datetime.date(2015, 1, 1) + datetime.timedelta(days=rng.randrange(0, 3650))
    active = "true" if rng.random() < 0.8 else "false"
    people.append((i, f"{FIRST[i % 20]}{i}", dept, salary, hired.isoformat(), active))
write("people.csv", ["id", "name", "dept_id", "salary", "hired", "active"], people)

orders = []
start = datetime.datetime(2024, 1, 1, 8, 0, 0)
for i in range(1, 201):
    person = rng.randrange(1, 41)
    at = start + datetime.timedelta(minutes=rng.randrange(0, 60 * 24 * 90))
    amount = f"{rng.randrange(100, 100_000) / 100:.2f}"
    qty = rng.randrange(1, 10)
    orders.append((i, person, at.strftime("%Y-%m-%d %H:%M:%S"), amount, qty))
write("orders.csv", ["order_id", "person_id", "ordered_at", "amount", "qty"], orders)

with open(HERE / "events.json", "w") as f:
    f.write('{"id": 1, "kind": "click", "value": 1.5}\n')
    f.write('{"id": 2, "kind": "view", "value": null}\n')
    f.write('{"id": 3, "kind": "click", "value": 4.0}\n')
