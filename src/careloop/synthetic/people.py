"""Names, places and languages for synthetic people (US-like mix, some accented names)."""

from __future__ import annotations

FEMALE = ("Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica", "Sarah", "Karen",
          "Lisa", "Nancy", "Betty", "Margaret", "Sandra", "Ashley", "Kimberly", "Emily", "Donna", "Michelle",
          "Carol", "Amanda", "Dorothy", "Melissa", "Deborah", "Stephanie", "Rebecca", "Sharon", "Laura", "Cynthia",
          "Zoë", "Chloé", "Renée", "María", "Sofía", "Lucía", "Ana", "Guadalupe", "Mei", "Linh", "Aaliyah", "Fatima",
          "Olga", "Ingrid", "Siobhán", "Aoife", "Noémie", "Hana", "Priya", "Keisha")
MALE = ("James", "Robert", "John", "Michael", "David", "William", "Richard", "Joseph", "Thomas", "Charles",
        "Christopher", "Daniel", "Matthew", "Anthony", "Mark", "Donald", "Steven", "Paul", "Andrew", "Joshua",
        "Kenneth", "Kevin", "Brian", "George", "Timothy", "Ronald", "Edward", "Jason", "Jeffrey", "Ryan",
        "José", "Luis", "Jesús", "Andrés", "Raúl", "Wei", "Minh", "Hiroshi", "Ahmed", "Omar", "Dmitri", "Søren",
        "François", "Jürgen", "Seán", "Darnell", "Tyrone", "Rahul", "Kwame", "Mateo")
FAMILY = ("Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
          "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
          "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
          "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green",
          "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Núñez",
          "Peña", "Muñoz", "Ibáñez", "Müller", "Schäfer", "O'Brien", "O'Connor", "D'Angelo", "Van der Berg",
          "Østergaard", "Løvaas", "Chén", "Tran", "Pham", "Kim", "Park", "Patel", "Shah", "Okafor", "Mensah",
          "Kowalski", "Nowak", "Ivanov", "Haddad", "Cohen", "Rossi", "Bianchi", "Dubois", "Lefèvre", "García-López")
STREETS = ("Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Elm St", "Washington Blvd", "Lake Rd", "Hillcrest Dr",
           "Park Ave", "River Rd", "Sunset Blvd", "Pine St", "Church St", "Mill Rd", "Highland Ave")
CITIES = (("Springfield", "OH", "455"), ("Dayton", "OH", "454"), ("Columbus", "OH", "432"),
          ("Hamilton", "OH", "450"), ("Middletown", "OH", "450"), ("Xenia", "OH", "453"))
# (language tag, share of the population, share of its speakers needing an interpreter)
LANGUAGES = (("en", 0.86, 0.0), ("es", 0.08, 0.55), ("zh", 0.015, 0.6), ("vi", 0.012, 0.6),
             ("ar", 0.008, 0.5), ("ru", 0.008, 0.5), ("so", 0.007, 0.7))
RELATIONSHIPS = ("spouse", "daughter", "son", "sibling", "friend", "niece")
STAFF_GIVEN = ("Alex", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery", "Quinn", "Rowan",
               "Harper", "Emerson", "Finley", "Hayden", "Kendall", "Logan", "Parker", "Reese", "Sawyer", "Skyler")
